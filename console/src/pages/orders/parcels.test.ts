import { describe, expect, it } from "vitest";

import { MAX_PARCELS, emptyParcel, parcelProblems, shipBody } from "./parcels";

describe("parcels", () => {
  it("one parcel carries every line: no line ids are sent", () => {
    expect(shipBody([{ carrier_id: "SF", tracking_no: " SF1 ", line_ids: ["1"] }])).toEqual({
      parcels: [{ carrier_id: "SF", tracking_no: "SF1", line_ids: [] }],
    });
  });
  it("split parcels name their lines", () => {
    const parcels = [{ carrier_id: "SF", tracking_no: "SF1", line_ids: ["1"] }, { carrier_id: "ZTO", tracking_no: "Z2", line_ids: [] }];
    expect(parcelProblems(parcels)).toEqual({ "parcels.1.line_ids": "请选择包裹内的商品" });
    expect(shipBody(parcels).parcels[0].line_ids).toEqual(["1"]);
  });
  it("refuses what the admin can fix at once, by the API's field names", () => {
    expect(parcelProblems([emptyParcel()])).toEqual({
      "parcels.0.carrier_id": "请选择快递公司", "parcels.0.tracking_no": "请填写快递单号",
    });
    const many = Array.from({ length: MAX_PARCELS + 1 }, () => ({ carrier_id: "SF", tracking_no: "x", line_ids: ["1"] }));
    expect(parcelProblems(many).parcels).toBe("最多 15 个包裹");
  });
});
