// Placeholder until the deliver use case lands (pipeline issue).
export const handler = async (_event: unknown): Promise<{ batchItemFailures: { itemIdentifier: string }[] }> => ({
  batchItemFailures: [],
});
