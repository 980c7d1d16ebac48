package store

// The check queries prove a region's books; both dialects run them as they
// are (SQLite reads $N as ?N).

// checkGames lists the games of region $1 whose seats do not sum to zero, or
// that have fewer than two seats (a half-written settlement).
const checkGames = `
SELECT g.game_id FROM games g LEFT JOIN game_seats s ON s.game_id = g.game_id
WHERE g.region = $1
GROUP BY g.game_id
HAVING coalesce(sum(s.delta), 0) <> 0 OR count(s.seat) < 2
ORDER BY g.game_id`

// checkBalances lists the accounts of region $1 whose balance is not the
// starting coins ($2) plus their ledger, or whose score, games or wins differ
// from it (a game paid twice, or paid without its ledger rows), and accounts
// in the ledger with no balance at all.
const checkBalances = `
SELECT p.account FROM players p
LEFT JOIN (
	SELECT account, sum(delta) AS d, count(*) AS n, sum(CASE WHEN delta > 0 THEN 1 ELSE 0 END) AS w
	FROM game_seats WHERE region = $1 GROUP BY account
) l ON l.account = p.account
WHERE p.region = $1 AND (l.account IS NULL OR p.coins <> $2 + l.d OR p.score <> l.d OR p.games <> l.n OR p.wins <> l.w)
UNION ALL
SELECT DISTINCT s.account FROM game_seats s
WHERE s.region = $1 AND NOT EXISTS (SELECT 1 FROM players p WHERE p.region = $1 AND p.account = s.account)
ORDER BY 1`

// regionNames lists the regions with data in a database; it reads every
// player's row (administrators run it, not requests).
const regionNames = `SELECT DISTINCT region FROM players ORDER BY region`

// importPlan is what ImportAccounts writes, decided from the rows that exist.
type importPlan struct {
	add, update []Account
	result      ImportResult
}

// planImport: new names are added, file-sourced accounts take the file's
// hash, other accounts (signed up, added by an administrator, guests) keep
// theirs: the file must not take over a name someone else holds.
func planImport(existing map[string]Account, accts []Account) importPlan {
	var p importPlan
	for _, a := range accts {
		old, ok := existing[a.Name]
		switch {
		case !ok:
			p.add = append(p.add, a)
			p.result.Added++
		case old.Source != SourceFile:
			p.result.Skipped = append(p.result.Skipped, a.Name)
		case string(old.PasswordHash) != string(a.PasswordHash):
			p.update = append(p.update, a)
			p.result.Updated++
		default:
			p.result.Unchanged++
		}
	}
	return p
}
