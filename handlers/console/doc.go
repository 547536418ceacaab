// Package console holds what the web console is made of apart from its
// routes: signed session cookies and CSRF tokens, the verification of the
// identity an AWS Application Load Balancer asserts after OIDC sign-in,
// the HTML templates and static assets (embedded, no build step) and the
// views that turn calls into what the templates show.
//
// The routes themselves are in package handlers, registered with every
// other route in (*Server).routes, so the console shares the service's
// request context, error mapping and call deletion.
package console
