// The modeller's own texts in the page's language (<html lang>, set by the language switch): Swedish by default,
// English when the page is English. Each call names both texts side by side, so neither can be forgotten; {name}
// placeholders are filled from `values`.
export const LANG = (document.documentElement.lang || "sv").toLowerCase().startsWith("en") ? "en" : "sv";
export const LOCALE = LANG === "en" ? "en-GB" : "sv-SE";

export function t(sv, en, values) {
  const template = LANG === "en" ? en : sv;
  return template.replace(/{([a-z_]+)}/g, (whole, key) => (values && key in values ? String(values[key]) : whole));
}
