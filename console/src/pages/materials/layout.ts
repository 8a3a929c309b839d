/**
 * A poster template's layout as the form edits it, and the checks the API makes (mall.domain.materials),
 * run here first so a box outside the poster or over the QR code is shown before saving.
 */
import type { components } from "../../api/schema";

export type Layout = components["schemas"]["LayoutModel"];
export type LayoutBox = components["schemas"]["LayoutBox"];

export const POSTER_WIDTH = 750;
export const POSTER_HEIGHT = 1334;
export const QR_MIN_SIDE = 160;
export const QR_MAX_SIDE = 400;
export const QR_MARGIN = 8;
export const TEXT_MIN_WIDTH = 80;
export const TEXT_MIN_HEIGHT = 24;

/** A layout that passes: the QR bottom right, the title, price and nickname above and beside it. */
export function defaultLayout(): Layout {
  return {
    qr: { x: 470, y: 1054, width: 240, height: 240 },
    title: { x: 40, y: 900, width: 670, height: 96 },
    price: { x: 40, y: 1000, width: 400, height: 64 },
    nickname: { x: 40, y: 1100, width: 400, height: 48 },
    text_color: "#222222",
  };
}

function overlaps(a: LayoutBox, b: LayoutBox): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

/** Field (`layout.qr`, …) → why it cannot be drawn; empty when the layout passes. */
export function layoutProblems(layout: Layout): Record<string, string> {
  const problems: Record<string, string> = {};
  const text: Record<string, LayoutBox> = { title: layout.title, price: layout.price };
  if (layout.nickname) text.nickname = layout.nickname;
  for (const [name, box] of Object.entries({ qr: layout.qr, ...text })) {
    if (box.x < 0 || box.y < 0 || box.x + box.width > POSTER_WIDTH || box.y + box.height > POSTER_HEIGHT) {
      problems[`layout.${name}`] = `须在 ${POSTER_WIDTH}×${POSTER_HEIGHT} 海报范围内`;
    }
  }
  const qr = layout.qr;
  if (!problems["layout.qr"]) {
    if (qr.width !== qr.height) problems["layout.qr"] = "二维码须为正方形";
    else if (qr.width < QR_MIN_SIDE || qr.width > QR_MAX_SIDE) {
      problems["layout.qr"] = `二维码边长须在 ${QR_MIN_SIDE}–${QR_MAX_SIDE} 像素之间`;
    }
  }
  const padded = { x: qr.x - QR_MARGIN, y: qr.y - QR_MARGIN, width: qr.width + 2 * QR_MARGIN,
                   height: qr.height + 2 * QR_MARGIN };
  for (const [name, box] of Object.entries(text)) {
    if (problems[`layout.${name}`]) continue;
    if (box.width < TEXT_MIN_WIDTH || box.height < TEXT_MIN_HEIGHT) {
      problems[`layout.${name}`] = `至少 ${TEXT_MIN_WIDTH}×${TEXT_MIN_HEIGHT} 像素`;
    } else if (overlaps(box, padded)) {
      problems[`layout.${name}`] = "不能压住二维码";
    }
  }
  return problems;
}

/** A box as CSS percentages of the poster, for the preview. */
export function boxStyle(box: LayoutBox): Record<string, string> {
  const pct = (value: number, of: number): string => `${((value / of) * 100).toFixed(2)}%`;
  return { left: pct(box.x, POSTER_WIDTH), top: pct(box.y, POSTER_HEIGHT), width: pct(box.width, POSTER_WIDTH),
           height: pct(box.height, POSTER_HEIGHT) };
}
