/**
 * The EventBridge source and detail-type of a run's completion event, as Dograh sends it: the
 * defaults of the stack's rule and of the render function's config. Apart from event.ts, so the
 * deliver function's config can name them without building the event's schemas.
 */
export const DEFAULT_EVENT_SOURCE = 'dograh.workflows';
export const DEFAULT_DETAIL_TYPE = 'Workflow Run Completed';
