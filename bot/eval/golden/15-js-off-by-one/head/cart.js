// The shopping cart shown in the header.
export function itemCount(items) {
  return items.length;
}

export function cartTotal(items) {
  let total = 0;
  for (let i = 0; i <= items.length; i++) {
    total += items[i].price * items[i].quantity;
  }
  return total;
}
