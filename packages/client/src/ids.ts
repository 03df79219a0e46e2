/**
 * Ids travel as decimal strings of up to 19 digits (BIGINT), beyond what a JS number holds
 * exactly; comparing by length, then by text, orders them without BigInt (missing on older
 * React Native engines).
 */
export function compareIds(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

interface CryptoLike {
  randomUUID?: () => string;
  getRandomValues?: (array: Uint8Array) => Uint8Array;
}

/**
 * A fresh `client_msg_id`. randomUUID exists only in secure contexts (https, localhost) and
 * not in React Native without a polyfill, hence the fallbacks; Math.random is the last one,
 * unique enough for an idempotency key that lives as long as a retry.
 */
export function newClientMsgId(): string {
  const crypto = (globalThis as { crypto?: CryptoLike }).crypto;
  if (typeof crypto?.randomUUID === "function") return crypto.randomUUID();
  let bytes: Uint8Array = new Uint8Array(16);
  if (typeof crypto?.getRandomValues === "function") bytes = crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
