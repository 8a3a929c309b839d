/** The customer list's filter form, turned into the query the API takes (empty fields left out). */
export interface CustomerFilters {
  nickname: string;
  phone: string;
  userId: string;
  promoterId: string;
  tagId: string;
  /** China days, YYYY-MM-DD, from the date-range picker (both or neither). */
  registered: [string, string] | null;
}

export interface CustomerQuery {
  nickname?: string;
  phone?: string;
  user_id?: string;
  promoter_id?: string;
  tag_id?: string;
  from?: string;
  to?: string;
}

export function emptyFilters(): CustomerFilters {
  return { nickname: "", phone: "", userId: "", promoterId: "", tagId: "", registered: null };
}

export function customerQuery(f: CustomerFilters): CustomerQuery {
  const query: CustomerQuery = {};
  const set = (key: keyof CustomerQuery, value: string): void => {
    const trimmed = value.trim();
    if (trimmed) query[key] = trimmed;
  };
  set("nickname", f.nickname);
  // Digits only: the API matches the exact number through its keyed hash.
  set("phone", f.phone.replace(/[\s-]/g, ""));
  set("user_id", f.userId);
  set("promoter_id", f.promoterId);
  set("tag_id", f.tagId);
  if (f.registered) {
    query.from = f.registered[0];
    query.to = f.registered[1];
  }
  return query;
}
