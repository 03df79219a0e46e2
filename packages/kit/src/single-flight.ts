/** Starts `work` for a key unless a call for that key is already running, and shares it. */
export type SingleFlight<T> = (key: string, work: () => Promise<T>) => { result: Promise<T>; leader: boolean };

/**
 * Concurrent calls for one key share one run of the work (e.g. the first lookups of a new
 * room); `leader` is true only for the call that started it. Once it settles the next call
 * starts afresh: nothing is cached.
 */
export function createSingleFlight<T>(): SingleFlight<T> {
  const running = new Map<string, Promise<T>>();
  return (key, work) => {
    const shared = running.get(key);
    if (shared) return { result: shared, leader: false };
    const result = work().finally(() => running.delete(key));
    running.set(key, result);
    return { result, leader: true };
  };
}
