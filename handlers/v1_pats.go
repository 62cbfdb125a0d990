package handlers

// Personal access tokens (users.*PersonalAccessToken*), as Rocket.Chat serves them: named,
// revocable, with no expiry, shown once and stored as a hash, for scripts and monitors that
// send X-User-Id and X-Auth-Token (REST) or log in with {resume: token} (DDP). They are not
// swept with session tokens, and the per-user cap on session tokens does not count them.

import (
	"unicode/utf8"

	"rocketlite/auth"
	"rocketlite/rbac"
)

func tokenName(in body) (string, error) {
	name, err := in.str("tokenName")
	if err != nil {
		return "", err
	}
	switch {
	case name == "":
		return "", badRequest("error-invalid-params", `The parameter "tokenName" is required`)
	case utf8.RuneCountInString(name) > 100 || hasControl(name, false):
		return "", badRequest("error-invalid-params", "tokenName must be at most 100 characters without control characters")
	}
	return name, nil
}

func (a *API) setPersonalToken(c *call, replace bool) (any, error) {
	if err := a.need1(c, rbac.CreatePersonalAccessTokens, ""); err != nil {
		return nil, err
	}
	name, err := tokenName(c.in)
	if err != nil {
		return nil, err
	}
	if err := a.allowSend(c.user); err != nil {
		return nil, err
	}
	tok := auth.NewToken()
	if err := a.st.SetPersonalToken(c.user.ID, name, auth.HashToken(tok), tok[len(tok)-6:], replace); err != nil {
		return nil, err
	}
	return J("token", tok, "success", true), nil
}

func (a *API) usersGeneratePersonalAccessToken1(c *call) (any, error) {
	return a.setPersonalToken(c, false)
}

func (a *API) usersRegeneratePersonalAccessToken1(c *call) (any, error) {
	return a.setPersonalToken(c, true)
}

type personalTokenView struct {
	Name          string `json:"name"`
	CreatedAt     jsTime `json:"createdAt"`
	LastTokenPart string `json:"lastTokenPart"`
	Bypass2FA     bool   `json:"bypassTwoFactor"`
}

func (a *API) usersGetPersonalAccessTokens1(c *call) (any, error) {
	if err := a.need1(c, rbac.CreatePersonalAccessTokens, ""); err != nil {
		return nil, err
	}
	list, err := a.st.PersonalTokens(c.user.ID)
	if err != nil {
		return nil, err
	}
	views := make([]personalTokenView, len(list))
	for i, p := range list {
		views[i] = personalTokenView{Name: p.Name, CreatedAt: jsTime(p.CreatedAt), LastTokenPart: p.LastTokenPart}
	}
	return J("tokens", views, "success", true), nil
}

func (a *API) usersRemovePersonalAccessToken1(c *call) (any, error) {
	if err := a.need1(c, rbac.CreatePersonalAccessTokens, ""); err != nil {
		return nil, err
	}
	name, err := tokenName(c.in)
	if err != nil {
		return nil, err
	}
	if err := a.st.RemovePersonalToken(c.user.ID, name); err != nil {
		return nil, err
	}
	return J("success", true), nil
}
