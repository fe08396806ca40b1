// Placeholder until the render use case lands (pipeline issue).
export const handler = async (_event: unknown): Promise<void> => {};
