// The banner at the top of the landing page.
export function showBanner(element) {
  const name = new URLSearchParams(window.location.search).get("name") || "friend";
  element.innerHTML = "<b>Welcome, " + name + "!</b>";
}
