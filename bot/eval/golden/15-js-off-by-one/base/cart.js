// The shopping cart shown in the header.
export function itemCount(items) {
  return items.length;
}
