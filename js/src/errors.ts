/** The error hierarchy, as in Python: one root, one class per kind of refusal. */

/** The root of every error flatsync raises for bad input. */
export class FlatsyncError extends Error {
  override name = "FlatsyncError";
}
/** A packet that is not well formed (malformed bytes, a rule of the protocol broken). */
export class DecodeError extends FlatsyncError {
  override name = "DecodeError";
}
/** A packet (or a tree) beyond the {@link Limits}. */
export class LimitError extends FlatsyncError {
  override name = "LimitError";
}
/** A tree that cannot be encoded (something outside the protocol, or beyond the limits). */
export class EncodeError extends FlatsyncError {
  override name = "EncodeError";
}
/** A delta that does not fit the state it is applied to; the state is unchanged. */
export class PatchError extends FlatsyncError {
  override name = "PatchError";
}
/** A session packet whose frame header is malformed, or of another version. */
export class FrameError extends FlatsyncError {
  override name = "FrameError";
}
