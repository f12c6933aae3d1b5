// The banner at the top of the landing page.
export function showBanner(element) {
  element.textContent = "Welcome!";
}
