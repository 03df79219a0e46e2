/** Runs `task` when it is this key's turn; tasks of one key run one at a time, in call order. */
export type Serialize = <T>(key: string, task: () => Promise<T>) => Promise<T>;

/**
 * Runs tasks one at a time per key, in arrival order. The dispatcher holds a room's turn
 * while handing that room's waiting messages to delivery, so a room's messages are published
 * in the order of their ids and every socket sees them in stored order (within this process;
 * see the README on running several messages replicas).
 */
export function createKeyedSerializer(): Serialize {
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
