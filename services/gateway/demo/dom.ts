/** The element with `id`; throws when the page lacks it (a broken page should fail loudly, once). */
export function byId<T extends HTMLElement | SVGElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as unknown as T;
}

/** A new element with text content (never HTML: everything shown comes from other users). */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, text = "", className = ""): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text) e.textContent = text;
  if (className) e.className = className;
  return e;
}

/** Scrolls a log to its end when it was at the end already (a reader scrolled up stays put). */
export function keepAtEnd(log: HTMLElement, change: () => void): void {
  const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  change();
  if (atEnd) log.scrollTop = log.scrollHeight;
}

/** A time as `HH:MM:SS`. */
export const clock = (t: number): string => new Date(t).toLocaleTimeString([], { hour12: false });
