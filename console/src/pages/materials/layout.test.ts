import { describe, expect, it } from "vitest";

import { boxStyle, defaultLayout, layoutProblems } from "./layout";

describe("layoutProblems", () => {
  it("passes the default layout", () => {
    expect(layoutProblems(defaultLayout())).toEqual({});
  });

  it("names a box outside the poster, a QR that is not a square, and text over the QR", () => {
    const layout = defaultLayout();
    layout.qr = { x: 600, y: 1054, width: 240, height: 240 };
    expect(Object.keys(layoutProblems(layout))).toEqual(["layout.qr"]);
    layout.qr = { x: 470, y: 1054, width: 240, height: 200 };
    expect(layoutProblems(layout)["layout.qr"]).toContain("正方形");
    const over = defaultLayout();
    over.nickname = { x: 400, y: 1100, width: 200, height: 48 };
    expect(layoutProblems(over)).toEqual({ "layout.nickname": "不能压住二维码" });
  });
});

describe("boxStyle", () => {
  it("places a box in percent of the poster", () => {
    expect(boxStyle({ x: 375, y: 0, width: 75, height: 1334 })).toEqual(
      { left: "50.00%", top: "0.00%", width: "10.00%", height: "100.00%" });
  });
});
