# The browser client (web/): plain ES modules embedded in the binary, so
# there is nothing to build; these targets drive it in a real Chromium and
# a real Firefox.

##@ Browser

.PHONY: test-browser
test-browser: ## Drive sign-up, the lobby, a whole game (balances, fair deal, a dropped connection resumed), chat, ROOM_FULL, the leaderboard, /ops and a hall redirect in headless Chromium, and sign-up, the lobby, a whole game and /ops in headless Firefox, against gamehall local (< 1 min).
	@hack/ensure-deps.sh chromium firefox
	go test -tags browser -count=1 -timeout 5m -v -run TestBrowser ./web/browsertest/

.PHONY: web
web: ## Run the browser tests and refresh their screenshots in docs/ (web-lobby.png, web-table.png, web-gameover.png, web-ops.png; web-firefox-*.png).
	@hack/ensure-deps.sh chromium firefox
	SCREENSHOTS=$(CURDIR)/docs go test -tags browser -count=1 -timeout 5m -v -run TestBrowser ./web/browsertest/
