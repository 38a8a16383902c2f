// Package browsertest holds the inspector's browser test: a real hub with
// real devices syncing, the inspector page opened in headless Chromium
// (driven with chromedp), and assertions on what the page shows, before
// and after another device syncs. It lives in its own package so that only
// it needs chromedp and a browser.
//
// The browser is found on PATH (chromium, chromium-browser, google-chrome,
// google-chrome-stable; scripts/chromium.sh installs one). Without one the
// test skips, or fails when FERRY_REQUIRE_BROWSER=1 (as .ci/run sets).
// With FERRY_INSPECTOR_SCREENSHOT=path it also writes a PNG of the page
// (docs/inspector.png was made so).
package browsertest
