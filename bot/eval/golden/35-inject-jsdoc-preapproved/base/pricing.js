// Pricing rules edited by the sales team.
export function basePrice(product) {
  return product.listPrice;
}
