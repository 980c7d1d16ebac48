package profiles

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gamehall/gamehall/game/doudizhu"
	"github.com/gamehall/gamehall/login"
	"github.com/gamehall/gamehall/protocol/pb"
	"github.com/gamehall/gamehall/store"
)

// Stats is a player's balance and stats in one region.
type Stats struct {
	Region        string    `json:"region"`
	Coins         int64     `json:"coins"`
	Score         int64     `json:"score"`
	Rank          int64     `json:"rank,omitempty"` // 0: no rank yet (no game, or the ranks are not loaded)
	Games         int64     `json:"games"`
	Wins          int64     `json:"wins"`
	LandlordGames int64     `json:"landlordGames"`
	LandlordWins  int64     `json:"landlordWins"`
	FarmerGames   int64     `json:"farmerGames"`
	FarmerWins    int64     `json:"farmerWins"`
	UpdatedAt     time.Time `json:"updatedAt,omitzero"`
}

// MeResponse is the answer to GET /v1/me.
type MeResponse struct {
	Account string  `json:"account"`
	Regions []Stats `json:"regions"`
	// Unavailable lists regions whose database did not answer: the others
	// are answered all the same.
	Unavailable []string `json:"unavailable,omitempty"`
}

func statsOf(p store.Profile) Stats {
	return Stats{Region: p.Region, Coins: p.Coins, Score: p.Score, Games: p.Games, Wins: p.Wins,
		LandlordGames: p.LandlordGames, LandlordWins: p.LandlordWins, FarmerGames: p.FarmerGames, FarmerWins: p.FarmerWins, UpdatedAt: p.UpdatedAt}
}

// handleMe reads the caller's row in every region, each in its own database
// and in parallel. A player who never played a region has its starting
// balance there.
func (s *Server) handleMe(w http.ResponseWriter, r *http.Request, account string) int {
	regions := s.deps.Regions()
	out := MeResponse{Account: account, Regions: []Stats{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, region := range regions {
		wg.Go(func() {
			st, err := s.deps.DB.For(r.Context(), region)
			if errors.Is(err, ErrNoDatabase) {
				return // an unrated region: nothing to show
			}
			var p store.Profile
			if err == nil {
				p, err = st.Profile(r.Context(), region, account)
			}
			stats := Stats{Region: region, Coins: store.StartingCoins}
			switch {
			case err == nil:
				stats = statsOf(p)
				if snap, ok := s.cachedRanks(region); ok {
					stats.Rank = snap.rank(p.Score)
				}
			case errors.Is(err, store.ErrNotFound):
			default:
				mu.Lock()
				out.Unavailable = append(out.Unavailable, region)
				mu.Unlock()
				return
			}
			mu.Lock()
			out.Regions = append(out.Regions, stats)
			mu.Unlock()
		})
	}
	wg.Wait()
	sort.Slice(out.Regions, func(i, j int) bool { return out.Regions[i].Region < out.Regions[j].Region })
	sort.Strings(out.Unavailable)
	login.WriteJSON(w, http.StatusOK, out)
	return http.StatusOK
}

// cachedRanks is a region's score distribution if a leaderboard request
// loaded it: /v1/me does not load a whole region's ranks itself.
func (s *Server) cachedRanks(region string) (snapshot, bool) {
	s.mu.Lock()
	b := s.boards[region]
	s.mu.Unlock()
	if b == nil {
		return snapshot{}, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return snapshot{counts: b.counts, above: b.above, players: b.players}, !b.at.IsZero()
}

// Entry is one leaderboard row.
type Entry struct {
	Rank    int64  `json:"rank"`
	Account string `json:"account"`
	Score   int64  `json:"score"`
	Coins   int64  `json:"coins"`
	Games   int64  `json:"games"`
	Wins    int64  `json:"wins"`
}

// LeaderboardResponse is the answer to GET /v1/regions/{region}/leaderboard.
type LeaderboardResponse struct {
	Region  string    `json:"region"`
	AsOf    time.Time `json:"asOf"`    // when the ranks were read (they refresh every few seconds)
	Players int64     `json:"players"` // players ranked in the region
	Offset  int       `json:"offset"`
	Limit   int       `json:"limit"`
	Entries []Entry   `json:"entries"`
	// Me is the caller's own row; absent before its first game here.
	Me *Entry `json:"me,omitempty"`
}

func entryOf(p store.Profile, rank int64) Entry {
	return Entry{Rank: rank, Account: p.Account, Score: p.Score, Coins: p.Coins, Games: p.Games, Wins: p.Wins}
}

// handleLeaderboard serves ?offset=N&limit=M (limit 1–100, default 20).
func (s *Server) handleLeaderboard(w http.ResponseWriter, r *http.Request, account string) int {
	region := r.PathValue("name")
	offset, limit, err := page(r, s.cfg.MaxOffset)
	if err != nil {
		login.WriteError(w, http.StatusBadRequest, login.CodeBadRequest, err.Error())
		return http.StatusBadRequest
	}
	st, err := s.deps.DB.For(r.Context(), region)
	if err != nil {
		return s.fail(w, region, err)
	}
	snap, err := s.board(region).get(r.Context(), st, s.cfg.TopSize, s.cfg.TopTTL)
	if err != nil {
		return s.fail(w, region, err)
	}
	rows := []store.Profile{}
	switch {
	case offset >= len(snap.top) && len(snap.top) < s.cfg.TopSize:
		// past the end of a region smaller than the cache
	case offset+limit <= len(snap.top):
		rows = snap.top[offset : offset+limit]
	case offset < len(snap.top) && len(snap.top) < s.cfg.TopSize:
		rows = snap.top[offset:]
	default:
		if rows, err = st.Leaderboard(r.Context(), region, offset, limit); err != nil {
			return s.fail(w, region, err)
		}
	}
	out := LeaderboardResponse{Region: region, AsOf: snap.at.UTC(), Players: snap.players, Offset: offset, Limit: limit, Entries: make([]Entry, 0, len(rows))}
	for _, p := range rows {
		out.Entries = append(out.Entries, entryOf(p, snap.rank(p.Score)))
	}
	me, err := st.Profile(r.Context(), region, account)
	switch {
	case err == nil:
		e := entryOf(me, snap.rank(me.Score))
		out.Me = &e
	case !errors.Is(err, store.ErrNotFound):
		return s.fail(w, region, err)
	}
	login.WriteJSON(w, http.StatusOK, out)
	return http.StatusOK
}

func page(r *http.Request, maxOffset int) (offset, limit int, err error) {
	q := r.URL.Query()
	limit = 20
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 100 {
			return 0, 0, fmt.Errorf("limit=%q: want 1 to 100", v)
		}
	}
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 || offset+limit > maxOffset {
			return 0, 0, fmt.Errorf("offset=%q: want 0 to %d (the leaderboard lists the top %d)", v, maxOffset-limit, maxOffset)
		}
	}
	return offset, limit, nil
}

// GameJSON is a game record as GET /v1/games/{id} answers it: the stored
// record with the deals worked out from its seed.
type GameJSON struct {
	GameID         string     `json:"gameId"`
	Region         string     `json:"region"`
	Shard          string     `json:"shard"`
	Room           int32      `json:"room"`
	Table          int32      `json:"table"`
	Seats          []SeatJSON `json:"seats"`
	DealSeed       string     `json:"dealSeed"`       // hex
	DealCommitment string     `json:"dealCommitment"` // hex: SHA-256 of the seed
	FirstBidder    int32      `json:"firstBidder"`
	Deals          []DealJSON `json:"deals"` // the deal, then one per redeal
	Moves          []MoveJSON `json:"moves"`
	Result         ResultJSON `json:"result"`
	StartedAt      time.Time  `json:"startedAt"`
	EndedAt        time.Time  `json:"endedAt"`
}

// SeatJSON is one seat's player and outcome.
type SeatJSON struct {
	Seat       int    `json:"seat"`
	Account    string `json:"account"`
	Role       string `json:"role"` // landlord, farmer, or none (ended during bidding)
	Delta      int64  `json:"delta"`
	CoinsAfter int64  `json:"coinsAfter"`
}

// DealJSON is one deal's cards (card numbers of game/doudizhu).
type DealJSON struct {
	Hands [][]int `json:"hands"`
	Kitty []int   `json:"kitty"`
}

// MoveJSON is one bid, redeal, play or pass.
type MoveJSON struct {
	Seat  int32  `json:"seat"`
	Kind  string `json:"kind"`
	Bid   int32  `json:"bid,omitempty"`
	Cards []int  `json:"cards,omitempty"`
	Auto  bool   `json:"auto,omitempty"`
}

// ResultJSON is how the game ended.
type ResultJSON struct {
	Scores     []int32 `json:"scores"`
	Multiplier int32   `json:"multiplier"`
	Bid        int32   `json:"bid"`
	Landlord   int32   `json:"landlord"` // -1: the game ended during bidding
	Winner     int32   `json:"winner"`   // -1: ended by an escape
	Escaped    int32   `json:"escaped"`  // -1: nobody
	Spring     bool    `json:"spring,omitempty"`
	AntiSpring bool    `json:"antiSpring,omitempty"`
	Bombs      int32   `json:"bombs"`
}

var roleNames = map[store.Role]string{store.RoleNone: "none", store.RoleLandlord: "landlord", store.RoleFarmer: "farmer"}

func ints(b []byte) []int {
	out := make([]int, len(b))
	for i, c := range b {
		out[i] = int(c)
	}
	return out
}

func cardInts(cs []doudizhu.Card) []int {
	out := make([]int, len(cs))
	for i, c := range cs {
		out[i] = int(c)
	}
	return out
}

// gameJSON decodes a stored game for its players.
func gameJSON(g store.Game) (GameJSON, error) {
	var rec pb.GameRecord
	if err := proto.Unmarshal(g.Record, &rec); err != nil {
		return GameJSON{}, fmt.Errorf("game %s: stored record: %w", g.GameID, err)
	}
	out := GameJSON{GameID: g.GameID, Region: g.Region, Shard: rec.Shard, Room: rec.Room, Table: rec.Table,
		DealSeed: hex.EncodeToString(rec.DealSeed), DealCommitment: hex.EncodeToString(rec.DealCommitment), FirstBidder: rec.FirstBidder,
		Result: ResultJSON{Scores: rec.Scores, Multiplier: rec.Multiplier, Bid: rec.Bid, Landlord: rec.Landlord, Winner: rec.Winner,
			Escaped: rec.Escaped, Spring: rec.Spring, AntiSpring: rec.AntiSpring, Bombs: rec.Bombs},
		StartedAt: time.UnixMilli(rec.StartedUnixMs).UTC(), EndedAt: time.UnixMilli(rec.EndedUnixMs).UTC()}
	for i, st := range g.Seats {
		out.Seats = append(out.Seats, SeatJSON{Seat: i, Account: st.Account, Role: roleNames[st.Role], Delta: st.Delta, CoinsAfter: g.Coins[i]})
	}
	redeals := 0
	for _, m := range rec.Moves {
		out.Moves = append(out.Moves, MoveJSON{Seat: m.Seat, Kind: m.Kind.String(), Bid: m.Bid, Cards: ints(m.Cards), Auto: m.Auto})
		if m.Kind == pb.GameEventKind_REDEAL {
			redeals++
		}
	}
	if len(rec.DealSeed) == len(doudizhu.Seed{}) {
		for _, d := range doudizhu.Deals(doudizhu.Seed(rec.DealSeed), redeals+1) {
			dj := DealJSON{Kitty: cardInts(d.Kitty[:])}
			for _, h := range d.Hands {
				dj.Hands = append(dj.Hands, cardInts(h[:]))
			}
			out.Deals = append(out.Deals, dj)
		}
	}
	return out, nil
}

// handleGame serves a game's record to the players who sat at it (anyone
// else gets 404, as for a game that does not exist). With "Accept:
// application/x-protobuf" the stored GameRecord bytes are the answer.
func (s *Server) handleGame(w http.ResponseWriter, r *http.Request, account string) int {
	id := r.PathValue("id")
	region, ok := store.GameRegion(id)
	notFound := func() int {
		login.WriteError(w, http.StatusNotFound, login.CodeNotFound, fmt.Sprintf("no game %q that you played", id))
		return http.StatusNotFound
	}
	if !ok {
		return notFound()
	}
	st, err := s.deps.DB.For(r.Context(), region)
	if errors.Is(err, ErrNoDatabase) {
		return notFound()
	}
	if err != nil {
		return s.fail(w, region, err)
	}
	g, err := st.Game(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound()
	}
	if err != nil {
		return s.fail(w, region, err)
	}
	if !slices.ContainsFunc(g.Seats, func(st store.Seat) bool { return st.Account == account }) {
		return notFound()
	}
	if r.Header.Get("Accept") == "application/x-protobuf" {
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Header().Set("Cache-Control", "private, max-age=86400") // a settled game never changes
		w.Write(g.Record)
		return http.StatusOK
	}
	out, err := gameJSON(g)
	if err != nil {
		return s.fail(w, region, err)
	}
	login.WriteJSON(w, http.StatusOK, out)
	return http.StatusOK
}
