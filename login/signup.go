package login

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/store"
)

// Error codes of sign-up and of logins against the accounts database.
const (
	CodeAccountExists       = "ACCOUNT_EXISTS"
	CodeWeakPassword        = "WEAK_PASSWORD"
	CodeAccountDisabled     = "ACCOUNT_DISABLED"
	CodeSignupDisabled      = "SIGNUP_DISABLED"
	CodeAccountsUnavailable = "ACCOUNTS_UNAVAILABLE"
)

// signupName: what a new account may be called. Stricter than
// ValidAccountName (which also admits guests and older accounts): lower
// case only, so that "Ann" cannot pass for "ann", and a letter first.
var signupName = regexp.MustCompile(`^[a-z][a-z0-9_.-]{2,31}$`)

// reservedNames cannot be signed up: they would pass for the platform.
var reservedNames = map[string]bool{
	"admin": true, "administrator": true, "root": true, "system": true, "support": true,
	"gamehall": true, "hall": true, "login": true, "operator": true, "moderator": true, "guest": true,
}

// ValidSignupName reports whether a new account may take name.
func ValidSignupName(name string) error {
	if !signupName.MatchString(name) {
		return fmt.Errorf("account name %q: want 3-32 characters of lower-case letters, digits, '_', '.', '-', starting with a letter", name)
	}
	if reservedNames[name] || strings.HasPrefix(name, "gamehall") {
		return fmt.Errorf("account name %q is reserved", name)
	}
	return nil
}

// Password policy (NIST SP 800-63B): length, not the name, not a
// repetition, not a well-known password; no composition rules.
const (
	MinPassword = 10
	MaxPassword = 72 // bcrypt's limit
)

// commonPasswords are well-known passwords long enough to pass the length
// rule (from public breach lists); lower case, compared case-insensitively.
var commonPasswords = map[string]bool{
	"1234567890": true, "12345678910": true, "123456789a": true, "0123456789": true, "0987654321": true,
	"1q2w3e4r5t": true, "1qaz2wsx3edc": true, "qwertyuiop": true, "qwerty123456": true, "asdfghjkl;": true,
	"password12": true, "password123": true, "password1234": true, "passw0rd123": true, "p@ssw0rd123": true,
	"iloveyou123": true, "princess123": true, "football123": true, "baseball123": true, "sunshine123": true,
	"welcome123": true, "welcome1234": true, "letmein123": true, "changeme123": true, "trustno1234": true,
	"dragon12345": true, "monkey12345": true, "abc1234567": true, "abcdefghij": true, "abcd123456": true,
	"qazwsxedcrfv": true, "zaq12wsxcde3": true, "superman123": true, "administrator": true, "11111111111": true,
}

// CheckPassword applies the password policy to a new account's password.
func CheckPassword(name, password string) error {
	switch {
	case len(password) < MinPassword:
		return fmt.Errorf("the password has %d characters; use at least %d (a few words make a good one)", len(password), MinPassword)
	case len(password) > MaxPassword:
		return fmt.Errorf("the password has %d bytes; at most %d are used", len(password), MaxPassword)
	case strings.Contains(strings.ToLower(password), strings.ToLower(name)):
		return errors.New("the password must not contain the account name")
	case strings.Count(password, password[:1]) == len(password):
		return errors.New("the password repeats one character")
	case commonPasswords[strings.ToLower(password)]:
		return errors.New("this password is among the most used ones; choose another")
	}
	return nil
}

// SignupResponse answers a successful POST /v1/accounts.
type SignupResponse struct {
	Account   string    `json:"account"`
	CreatedAt time.Time `json:"createdAt"`
}

// handleSignup serves POST /v1/accounts: a new account in the accounts
// database. Every attempt, successful or not, spends the client address's
// sign-up budget, so names cannot be sprayed or probed fast.
func (s *Server) handleSignup(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	result := s.signup(w, r)
	s.m.signups.WithLabelValues(result).Inc()
	s.m.duration.Observe(time.Since(start).Seconds())
}

func (s *Server) signup(w http.ResponseWriter, r *http.Request) string {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		WriteError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "use POST with a JSON body {\"account\", \"password\"}")
		return ResultBadRequest
	}
	if s.deps.Store == nil {
		WriteError(w, http.StatusNotImplemented, CodeSignupDisabled, "sign-up needs an accounts database (the Hall's login.accountsDatabase); ask the operators for an account")
		return ResultBadRequest
	}
	addr := s.clientAddr(r)
	d, err := s.lim.Take(r.Context(), "signup:"+addr, presence.Rate{Burst: s.cfg.SignupBurst, Every: s.cfg.SignupEvery}) // every attempt counts
	if err != nil {
		return s.presenceFailed(w, err, "")
	}
	if d > 0 {
		s.m.limited.WithLabelValues(limitedSignup).Inc()
		WriteRetryError(w, http.StatusTooManyRequests, CodeRateLimited, "too many sign-ups from this address; try again later", d)
		return ResultRateLimited
	}
	req, err := decodeSignup(r.Body)
	if err != nil {
		WriteError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return ResultBadRequest
	}
	if err := ValidSignupName(req.Account); err != nil {
		WriteError(w, http.StatusBadRequest, CodeInvalidAccountName, err.Error())
		return ResultBadRequest
	}
	if err := CheckPassword(req.Account, req.Password); err != nil {
		WriteError(w, http.StatusBadRequest, CodeWeakPassword, err.Error())
		return ResultBadRequest
	}
	release, ok := s.hashes.acquire(r.Context())
	if !ok {
		return s.busy(w)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(req.Password), s.cfg.BcryptCost)
	release()
	if err != nil {
		WriteError(w, http.StatusInternalServerError, CodeInternal, "hashing the password failed")
		return ResultError
	}
	err = s.deps.Store.CreateAccount(r.Context(), store.Account{Name: req.Account, PasswordHash: hash, Source: store.SourceSignup})
	switch {
	case errors.Is(err, store.ErrAccountExists):
		WriteError(w, http.StatusConflict, CodeAccountExists, fmt.Sprintf("the name %q is taken; choose another", req.Account))
		return ResultBadRequest
	case err != nil:
		return s.storeFailed(w, err, req.Account)
	}
	WriteJSON(w, http.StatusCreated, SignupResponse{Account: req.Account, CreatedAt: time.Now().UTC().Truncate(time.Second)})
	return ResultOK
}

// storeFailed answers a failed accounts database call: 503 with a retry
// hint when it is unreachable, 500 otherwise.
func (s *Server) storeFailed(w http.ResponseWriter, err error, account string) string {
	s.deps.Log.Error(err, "accounts database", "account", account)
	if errors.Is(err, store.ErrUnavailable) {
		WriteRetryError(w, http.StatusServiceUnavailable, CodeAccountsUnavailable,
			"the accounts database is unavailable; try again shortly", 5*time.Second)
		return ResultUnavailable
	}
	WriteError(w, http.StatusInternalServerError, CodeInternal, "the accounts database failed")
	return ResultError
}

func decodeSignup(r io.Reader) (Request, error) {
	var req Request
	dec := json.NewDecoder(io.LimitReader(r, maxBody+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return Request{}, fmt.Errorf("body is not a sign-up request {\"account\", \"password\"}: %v", err)
	}
	if dec.More() {
		return Request{}, errors.New("body has data after the JSON object")
	}
	return req, nil
}
