import { Stack } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { DeliveryOutcome } from '../../shared/domain/outcome.ts';

/** What a final failure's lines say in `outcome` (shared/domain/outcome.ts). */
const FAILED: DeliveryOutcome = 'failed';

/** Saved Logs Insights queries over the render and deliver log groups, in `scope`, by name. */
export function createQueries(
  scope: Construct,
  queryFolder: string | undefined,
  renderLogGroup: logs.ILogGroup,
  deliverLogGroup: logs.ILogGroup,
): Record<string, logs.QueryDefinition> {
  const folder = queryFolder ?? `${Stack.of(scope).stackName}/${scope.node.id}`;
  const logGroups = [renderLogGroup, deliverLogGroup];
  // A final failure may log more than one line (the failed attempt, the move to the DLQ), so
  // deliveries are counted by distinct id. Every final failure, in any function, logs the same
  // outcome word the retry decision and the Deliveries metric use.
  const finalFailure = `outcome = "${FAILED}"`;
  return {
    failuresByWorkflow: new logs.QueryDefinition(scope, 'FailuresByWorkflowQuery', {
      queryDefinitionName: `${folder}/failures-by-workflow`,
      logGroups,
      queryString: new logs.QueryString({
        filterStatements: [finalFailure],
        statsStatements: [
          'count_distinct(delivery_id) as failed_deliveries, max(@timestamp) as last_failure by organization_id, workflow_id',
        ],
        sort: 'failed_deliveries desc',
        limit: 100,
      }),
    }),
    failuresByEndpointHost: new logs.QueryDefinition(scope, 'FailuresByEndpointHostQuery', {
      queryDefinitionName: `${folder}/failures-by-endpoint-host`,
      logGroups,
      queryString: new logs.QueryString({
        filterStatements: [finalFailure, 'ispresent(endpoint_host)'],
        statsStatements: [
          'count_distinct(delivery_id) as failed_deliveries, max(@timestamp) as last_failure by endpoint_host, error_class, status_code',
        ],
        sort: 'failed_deliveries desc',
        limit: 100,
      }),
    }),
    deliveryStory: new logs.QueryDefinition(scope, 'DeliveryStoryQuery', {
      queryDefinitionName: `${folder}/delivery-story`,
      logGroups,
      queryString: new logs.QueryString({
        fields: [
          '@timestamp',
          '@log',
          'level',
          'message',
          'attempt',
          'outcome',
          'status_code',
          'error_class',
          'endpoint_host',
          'workflow_run_id',
          'node_id',
        ],
        // Replace the id with the delivery's (the X-Dograh-Delivery-Id header of its requests).
        filterStatements: ['delivery_id = "REPLACE-WITH-DELIVERY-ID"'],
        sort: '@timestamp asc',
        limit: 1000,
      }),
    }),
  };
}
