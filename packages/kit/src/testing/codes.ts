import { ConnectError, type Code } from "@connectrpc/connect";

/** The Connect code a call failed with; throws when the call succeeded instead. */
export async function codeOf(promise: Promise<unknown>): Promise<Code> {
  try {
    await promise;
  } catch (err) {
    return ConnectError.from(err).code;
  }
  throw new Error("expected the call to fail");
}
