// Every function's environment in one module, for the stack, the local stack and tests. A function
// imports env.ts and its own schema's module instead, so it builds no other function's schema.
export * from './deliver-config.ts';
export * from './env.ts';
export * from './reconcile-config.ts';
export * from './render-config.ts';
