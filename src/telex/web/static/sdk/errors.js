// errors.js — TelexError, the one error type the SDK throws.
//
// Codes are the server's stable ACS error codes (`CallFull`, `Forbidden`, `NotFound`, `Conflict`,
// `ValidationFailed`, `Unauthorized`, …) passed through unchanged, plus a few that only a browser
// can produce (`PermissionDenied`, `DeviceNotFound`, `TokenExpired`, `NetworkError`,
// `RealtimeClosed`, `InvalidArgument`). Callers branch on `.code`, never on the message.

export class TelexError extends Error {
  /**
   * @param {string} code    stable error code
   * @param {string} message human-readable explanation
   * @param {{status?: number, cause?: unknown, target?: string}} [options]
   */
  constructor(code, message, { status = 0, cause, target } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "TelexError";
    this.code = code;
    this.status = status; // HTTP status, 0 when the error did not come from a response
    if (target !== undefined) this.target = target;
  }
}

/** Translate a getUserMedia / getDisplayMedia failure once, at the media boundary. */
export function mediaError(err, what) {
  const name = err?.name;
  if (name === "NotAllowedError" || name === "SecurityError") {
    return new TelexError(
      "PermissionDenied",
      `Permission to use the ${what} was denied. Allow access in the browser's site settings and try again.`,
      { cause: err },
    );
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") {
    return new TelexError("DeviceNotFound", `No ${what} was found.`, { cause: err });
  }
  if (name === "NotReadableError" || name === "AbortError") {
    return new TelexError("DeviceInUse", `The ${what} could not be started (in use by another application?).`, {
      cause: err,
    });
  }
  return new TelexError("MediaError", `Could not open the ${what}: ${err?.message ?? err}`, { cause: err });
}
