// PromQL fragments shared by the dashboards and the rules, so both measure the same thing.

// gRPC codes that are the server's fault and count against availability. Client mistakes
// (InvalidArgument, NotFound, PermissionDenied, Unauthenticated, AlreadyExists,
// FailedPrecondition, ResourceExhausted from sign-in throttling, Canceled by the caller, ...) do
// not.
export const SERVER_ERROR_CODES = 'Unknown|DeadlineExceeded|Unimplemented|Internal|Unavailable|DataLoss';

// The gRPC services of one Smartby service, e.g. smartcity.feed.v1.FeedService (health and
// reflection excluded): selecting on grpc_service keeps the rules independent of how the scrape
// jobs are named.
export function grpcServiceRegex(service) {
  return `smartcity\\\\.${service}\\\\..+`;
}

// The scrape job(s) of one service, or of any of several. The charts' ServiceMonitors name jobs
// after the Kubernetes Service (<global.namePrefix>-<service>, smartby-<service> by default), so
// the service name is part of the job.
export function jobRegex(...services) {
  return services.length === 1 ? `.*${services[0]}.*` : `.*(${services.join('|')}).*`;
}
