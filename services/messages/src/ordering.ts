/**
 * Runs tasks one at a time per key, in arrival order. SendMessage holds a room's turn from
 * the insert until delivery has published the event, so a room's messages are published in
 * the order of their ids and every socket sees them in stored order (within this process;
 * see the README on running several messages replicas).
 */
export function createKeyedSerializer() {
  const tails = new Map<string, Promise<void>>();
  return async function serialize<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const turn = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => turn);
    tails.set(key, tail);
    await previous;
    try {
      return await task();
    } finally {
      release();
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}
