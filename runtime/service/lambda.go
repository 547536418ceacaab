package service

import (
	"context"
	"encoding/json"
	"time"

	rtlambda "switchboard/runtime/lambda"
)

// LambdaFunction is the function's entry point. HTTP events (API Gateway
// REST and HTTP APIs, ALB target groups) run the app; a scheduled event
// (an EventBridge rule, or the payload {"switchboard":"work"}) processes
// the background work that is due until the invocation's deadline nears.
// Webhooks answered under Lambda only enqueue work: nothing runs after a
// response, so the schedule (every minute, say) is what archives
// recordings and writes summaries.
type LambdaFunction struct {
	m    *Service
	http *rtlambda.Handler
}

// LambdaFunction returns the service as a Lambda function handler.
func (m *Service) LambdaFunction() *LambdaFunction {
	return &LambdaFunction{m: m, http: rtlambda.NewHandler(m.App, rtlambda.WithBodyLimit(m.Config.HTTP.BodyLimit))}
}

// scheduledMargin is left of the invocation's time to record the outcome
// of the last item.
const scheduledMargin = 10 * time.Second

// Invoke answers one invocation.
func (f *LambdaFunction) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	if !scheduled(payload) {
		return f.http.Invoke(ctx, payload)
	}
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-scheduledMargin))
		defer cancel()
	}
	n := f.m.Workers.Drain(ctx)
	f.m.Log.Info("scheduled background work done", "items", n)
	return json.Marshal(map[string]int{"processed": n})
}

// scheduled reports whether the payload asks for background work rather
// than carrying an HTTP request.
func scheduled(payload []byte) bool {
	var ev struct {
		Source      string `json:"source"`
		DetailType  string `json:"detail-type"`
		Switchboard string `json:"switchboard"`
	}
	if json.Unmarshal(payload, &ev) != nil {
		return false
	}
	return ev.Switchboard == "work" || (ev.Source == "aws.events" && ev.DetailType == "Scheduled Event")
}
