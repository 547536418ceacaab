package ssmenv

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// bootTimeout bounds Apply.
const bootTimeout = 30 * time.Second

// NewClient builds an SSM client from the default credential chain (the
// instance role on EC2). The region comes from AWS_REGION or, on EC2 where
// nothing sets it, from the instance metadata; AWS_ENDPOINT_URL_SSM is
// honoured, which is how a non-default endpoint is chosen.
func NewClient(ctx context.Context) (Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithEC2IMDSRegion())
	if err != nil {
		return nil, err
	}
	return ssm.NewFromConfig(cfg), nil
}
