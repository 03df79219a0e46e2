import WebSocket from "ws";

/**
 * Asks a process started with --inspect to collect garbage (DevTools protocol,
 * HeapProfiler.collectGarbage), so a memory sample counts what is live, not what V8 has not
 * collected yet. Resolves false when no inspector answers at that address.
 */
export async function collectGarbage(inspectAddress: string): Promise<boolean> {
  let target: string | undefined;
  try {
    const list = (await (await fetch(`http://${inspectAddress}/json/list`, { signal: AbortSignal.timeout(2000) })).json()) as { webSocketDebuggerUrl?: string }[];
    target = list[0]?.webSocketDebuggerUrl;
  } catch {
    return false;
  }
  if (!target) return false;
  const socket = new WebSocket(target);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("open", () => resolve());
      socket.once("error", reject);
    });
    for (let id = 1; id <= 2; id++) {
      // Twice: the first pass can leave objects whose finalizers the second one frees.
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("the inspector did not answer collectGarbage")), 60_000);
        socket.on("message", (data) => {
          if ((JSON.parse(String(data)) as { id?: number }).id === id) {
            clearTimeout(timer);
            resolve();
          }
        });
        socket.send(JSON.stringify({ id, method: "HeapProfiler.collectGarbage" }));
      });
    }
    return true;
  } finally {
    socket.close();
  }
}
