/**
 * Failures of the proxy that the CLI maps to exit codes, apart from the server itself.
 */

/** The proxy socket could not be created; the message says why and what to do. */
export class ProxyListenError extends Error {
  override name = "ProxyListenError";
}
