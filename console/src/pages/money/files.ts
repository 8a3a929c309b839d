/**
 * Files the merchant downloads: a CSV answered by the API as text (saved through a Blob), and an
 * export job's file behind its short-lived link.
 */

/** Excel reads a CSV without a byte-order mark as the local code page, garbling Chinese. The
 * browser's text decoding drops the API's mark, so it is put back before saving. */
export function withBom(text: string): string {
  return text.startsWith("\uFEFF") ? text : `\uFEFF${text}`;
}

/** Saves `text` as a file named `filename` (the browser's download, no new tab). */
export function saveText(text: string, filename: string, type = "text/csv;charset=utf-8"): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  try {
    followLink(url, filename);
  } finally {
    // The click starts the download synchronously; the object URL is no longer needed after it.
    setTimeout(() => URL.revokeObjectURL(url), 0);
  }
}

/** Opens `url` as a download (the export's link carries Content-Disposition: attachment). */
export function followLink(url: string, filename?: string): void {
  const link = document.createElement("a");
  link.href = url;
  if (filename) link.download = filename;
  link.rel = "noopener";
  link.style.display = "none";
  document.body.appendChild(link);
  link.click();
  link.remove();
}

export interface WithdrawalFilters {
  status?: string;
  promoterId?: string;
  days?: [string, string] | null;
}

/** `提现记录_待审核_2024-05-01至2024-05-31.csv`: the file name says what it holds. */
export function withdrawalsCsvName(filters: WithdrawalFilters, statusLabel: string | undefined, today: string): string {
  const parts = ["提现记录"];
  if (statusLabel) parts.push(statusLabel);
  if (filters.promoterId) parts.push(filters.promoterId);
  parts.push(filters.days ? `${filters.days[0]}至${filters.days[1]}` : today);
  return `${parts.join("_").replace(/[\\/:*?"<>|]/g, "-")}.csv`;
}

/** An export job the worker has not finished: the page keeps asking for its status. */
export function inFlight(status: string): boolean {
  return status === "QUEUED" || status === "RUNNING";
}

/** A file size for people: 1.5 KB, 2.3 MB. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return "—";
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
