/** Money arrives as integer fen; it is shown as ¥ with two decimals, through this one formatter. */
export function formatFen(fen: number | null | undefined): string {
  if (fen === null || fen === undefined || !Number.isFinite(fen)) return "—";
  const whole = Math.trunc(fen);
  const sign = whole < 0 ? "-" : "";
  const abs = Math.abs(whole);
  const yuan = Math.floor(abs / 100).toLocaleString("en-US");
  const cents = String(abs % 100).padStart(2, "0");
  return `${sign}¥${yuan}.${cents}`;
}

/** A yuan amount typed by a merchant ("12.5", "¥1,200.00") as integer fen; null when it is not one. */
export function parseYuan(text: string): number | null {
  const cleaned = text.replace(/[¥,\s]/g, "");
  const match = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(cleaned);
  if (!match) return null;
  const [, sign, yuan, cents = ""] = match;
  const fen = Number(yuan) * 100 + Number(cents.padEnd(2, "0"));
  return sign ? -fen : fen;
}

/** A rate in basis points (1500 = 15%) as a percentage with up to two decimals. */
export function formatBps(bps: number | null | undefined): string {
  if (bps === null || bps === undefined) return "—";
  return `${(bps / 100).toFixed(2).replace(/\.?0+$/, "")}%`;
}
