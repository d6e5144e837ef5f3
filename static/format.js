/**
 * Formatting for the page: byte sizes in binary units, dates in the reader's
 * locale, and countdowns as h:mm:ss.
 */

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/**
 * @param {number} bytes
 * @returns {string} e.g. "5.0 MiB"
 */
export function formatBytes(bytes) {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });

/**
 * @param {string | number | Date} when
 * @returns {string} Date and time, e.g. "26 Nov 2025, 17:04"
 */
export function formatDate(when) {
  const date = new Date(when);
  return Number.isNaN(date.getTime()) ? "" : dateFormat.format(date);
}

/**
 * @param {number | Date} when
 * @returns {string} Time of day with seconds
 */
export function formatTime(when) {
  return timeFormat.format(new Date(when));
}

/**
 * @param {number} ms A duration.
 * @returns {string} "1:02:03", "59:59" or "0:05"
 */
export function formatCountdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return hours > 0
    ? `${hours}:${String(minutes).padStart(2, "0")}:${seconds}`
    : `${minutes}:${seconds}`;
}
