/**
 * Small DOM helpers for the page. Everything a user (or the server) supplies
 * is written with textContent or setAttribute, never parsed as HTML, so a
 * file named `<img src=x onerror=…>` is shown as those characters.
 */

/**
 * Creates an element.
 *
 * @param {string} tag
 * @param {{class?: string, text?: string, attrs?: Record<string, string>}} [options]
 * @param {Node[]} [children]
 * @returns {HTMLElement}
 */
export function el(tag, options = {}, children = []) {
  const node = document.createElement(tag);
  if (options.class) node.className = options.class;
  if (options.text !== undefined) node.textContent = options.text;
  for (const [name, value] of Object.entries(options.attrs ?? {})) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/**
 * Copies text to the clipboard. The async Clipboard API needs a secure
 * context (HTTPS or localhost); elsewhere the older copy command is used.
 *
 * @param {string} text
 * @returns {Promise<void>}
 * @throws {Error} when the browser refuses both ways.
 */
export async function copyText(text) {
  if (navigator.clipboard?.writeText) {
    try {
      await navigator.clipboard.writeText(text);
      return;
    } catch {
      // Permission refused: try the fallback below.
    }
  }
  const scratch = el("textarea", { class: "visually-hidden", attrs: { readonly: "" } });
  scratch.value = text;
  document.body.append(scratch);
  scratch.select();
  const copied = document.execCommand("copy");
  scratch.remove();
  if (!copied) throw new Error("The browser did not allow copying: select the text and copy it");
}

/** A counter for element ids that must be unique on the page. */
let nextId = 0;

/**
 * @param {string} prefix
 * @returns {string} A fresh element id.
 */
export function uniqueId(prefix) {
  return `${prefix}-${++nextId}`;
}
