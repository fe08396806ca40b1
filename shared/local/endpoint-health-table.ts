import { CreateTableCommand, DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ENDPOINT_HEALTH_TABLE } from '../adapters/endpoint-health-table-layout.ts';

/** Creates the endpoint health table as `ENDPOINT_HEALTH_TABLE` describes it (on-demand); an existing one is kept. */
export async function createEndpointHealthTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: ENDPOINT_HEALTH_TABLE.partitionKey, AttributeType: 'S' },
          { AttributeName: ENDPOINT_HEALTH_TABLE.sortKey, AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: ENDPOINT_HEALTH_TABLE.partitionKey, KeyType: 'HASH' },
          { AttributeName: ENDPOINT_HEALTH_TABLE.sortKey, KeyType: 'RANGE' },
        ],
      }),
    );
  } catch (error) {
    if (!(error instanceof Error && error.name === 'ResourceInUseException')) throw error;
  }
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === 'ACTIVE') return;
    if (Date.now() > deadline) throw new Error(`table ${tableName} is not ACTIVE after 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
