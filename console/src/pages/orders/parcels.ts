/**
 * The ship card's parcels: one parcel carries every physical line (统一发货); several (分拆发货,
 * at most 15, WeChat's limit) each name the lines they carry. Checked here only for what the admin
 * can fix at once; the API refuses the rest naming the field (`parcels.1.carrier_id`).
 */
export const MAX_PARCELS = 15;

export interface ParcelDraft {
  carrier_id: string;
  tracking_no: string;
  line_ids: string[];
}

export interface ParcelBody {
  carrier_id: string;
  tracking_no: string;
  line_ids: string[];
}

export function emptyParcel(): ParcelDraft {
  return { carrier_id: "", tracking_no: "", line_ids: [] };
}

/** Inline errors by the API's field names; empty when the parcels may be sent. */
export function parcelProblems(parcels: ParcelDraft[]): Record<string, string> {
  const problems: Record<string, string> = {};
  if (parcels.length > MAX_PARCELS) problems.parcels = `最多 ${MAX_PARCELS} 个包裹`;
  parcels.forEach((parcel, index) => {
    if (!parcel.carrier_id) problems[`parcels.${index}.carrier_id`] = "请选择快递公司";
    if (!parcel.tracking_no.trim()) problems[`parcels.${index}.tracking_no`] = "请填写快递单号";
    if (parcels.length > 1 && parcel.line_ids.length === 0) problems[`parcels.${index}.line_ids`] = "请选择包裹内的商品";
  });
  return problems;
}

/** The body of POST /admin/orders/{order_id}/ship: one parcel sends no lines (it carries them all). */
export function shipBody(parcels: ParcelDraft[]): { parcels: ParcelBody[] } {
  const single = parcels.length === 1;
  return {
    parcels: parcels.map((parcel) => ({
      carrier_id: parcel.carrier_id,
      tracking_no: parcel.tracking_no.trim(),
      line_ids: single ? [] : [...parcel.line_ids],
    })),
  };
}
