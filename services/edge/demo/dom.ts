/** The few DOM helpers the demo shares. Text always goes in as text, never as HTML. */

export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from the page`);
  return found as T;
}

export function el(tag: string, className: string, text?: string): HTMLElement {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Hours and minutes today, else the date too: what a chat list shows. */
export function when(iso: string | null | undefined): string {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const time = date.toLocaleTimeString("es", { hour: "2-digit", minute: "2-digit" });
  return date.toDateString() === new Date().toDateString() ? time : `${date.toLocaleDateString("es", { day: "numeric", month: "short" })} ${time}`;
}

/** Ids are decimal strings of any size: compare them as numbers, not as text. */
export const newer = (a: string | null | undefined, b: string | null | undefined): boolean => !!a && (!b || BigInt(a) > BigInt(b));
