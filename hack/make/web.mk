# The browser client (web/): plain ES modules embedded in the binary, so
# there is nothing to build; these targets drive it in a real Chromium.

##@ Browser

.PHONY: test-browser
test-browser: ## Drive sign-up, the lobby, a whole game (balances, fair deal, a dropped connection resumed), ROOM_FULL, the leaderboard, /ops and a hall redirect in headless Chromium against gamehall local (< 1 min).
	@hack/ensure-deps.sh chromium
	go test -tags browser -count=1 -timeout 5m -v -run TestBrowser ./web/browsertest/

.PHONY: web
web: ## Run the browser test and refresh its screenshots in docs/ (web-lobby.png, web-table.png, web-gameover.png, web-ops.png).
	@hack/ensure-deps.sh chromium
	SCREENSHOTS=$(CURDIR)/docs go test -tags browser -count=1 -timeout 5m -v -run TestBrowser ./web/browsertest/
