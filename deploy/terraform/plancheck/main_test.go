package main

import (
	"slices"
	"strings"
	"testing"
)

// stream is a shortened `terraform test -json -verbose` output: two plan
// runs and the messages around them.
const stream = `{"@level":"info","@message":"Terraform 1.11.4","type":"version"}
{"@message":"  \"standby\"... pass","@testfile":"tests/failover.tftest.hcl","@testrun":"standby","type":"test_run","test_run":{"path":"tests/failover.tftest.hcl","run":"standby","progress":"complete","status":"pass"}}
{"@testfile":"tests/failover.tftest.hcl","@testrun":"promoted","type":"test_plan","test_plan":{"resource_changes":[
 {"address":"module.db.aws_db_instance.this","change":{"actions":["update"]}},
 {"address":"module.net.aws_vpc.this","change":{"actions":["no-op"]}},
 {"address":"module.alarms.aws_cloudwatch_metric_alarm.lag[0]","change":{"actions":["delete"]}}]}}
{"@testfile":"tests/failover.tftest.hcl","@testrun":"again","type":"test_plan","test_plan":{"resource_changes":[
 {"address":"module.db.aws_db_instance.this","change":{"actions":["no-op"]}}]}}
{"@testfile":"tests/other.tftest.hcl","@testrun":"replaced","type":"test_plan","test_plan":{"resource_changes":[
 {"address":"module.db.aws_db_instance.this","change":{"actions":["delete","create"]}}]}}
{"@message":"Success! 4 passed, 0 failed.","type":"test_summary","test_summary":{"status":"pass","passed":4,"failed":0}}
`

func check(t *testing.T, expected string) []string {
	t.Helper()
	want, err := readExpected(strings.NewReader(expected))
	if err != nil {
		t.Fatal(err)
	}
	got, err := readPlans(strings.NewReader(stream), nil)
	if err != nil {
		t.Fatal(err)
	}
	return compare(want, got)
}

func TestCompare(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		problems := check(t, `# comment
failover.tftest.hcl promoted update module.db.aws_db_instance.this
failover.tftest.hcl promoted delete module.alarms.aws_cloudwatch_metric_alarm.lag[0]

failover.tftest.hcl again none
other.tftest.hcl replaced replace module.db.aws_db_instance.this
`)
		if len(problems) != 0 {
			t.Errorf("problems: %q", problems)
		}
	})
	t.Run("Unexpected", func(t *testing.T) {
		problems := check(t, "failover.tftest.hcl promoted update module.db.aws_db_instance.this\n")
		want := []string{"failover.tftest.hcl run promoted: unexpected delete of module.alarms.aws_cloudwatch_metric_alarm.lag[0]"}
		if !slices.Equal(problems, want) {
			t.Errorf("got %q, want %q", problems, want)
		}
	})
	t.Run("Missing", func(t *testing.T) {
		problems := check(t, "failover.tftest.hcl again create module.x.aws_s3_bucket.this\n")
		want := []string{"failover.tftest.hcl run again: expected create of module.x.aws_s3_bucket.this, not planned"}
		if !slices.Equal(problems, want) {
			t.Errorf("got %q, want %q", problems, want)
		}
	})
	t.Run("ReplaceIsNotUpdate", func(t *testing.T) {
		problems := check(t, "other.tftest.hcl replaced update module.db.aws_db_instance.this\n")
		if len(problems) != 2 {
			t.Errorf("a replacement listed as an update must fail twice (unexpected replace, missing update), got %q", problems)
		}
	})
	t.Run("RunWithoutPlan", func(t *testing.T) {
		problems := check(t, "failover.tftest.hcl standby none\n")
		if len(problems) != 1 || !strings.Contains(problems[0], "no plan in the input") {
			t.Errorf("got %q", problems)
		}
	})
}

func TestReadExpected(t *testing.T) {
	for name, text := range map[string]string{
		"ErrEmpty":         "# nothing\n",
		"ErrUnknownAction": "a.tftest.hcl r move x.y\n",
		"ErrShort":         "a.tftest.hcl r create\n",
		"ErrNoneAndChange": "a.tftest.hcl r none\na.tftest.hcl r create x.y\n",
		"ErrChangeAndNone": "a.tftest.hcl r create x.y\na.tftest.hcl r none\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := readExpected(strings.NewReader(text)); err == nil {
				t.Errorf("%q was accepted", text)
			}
		})
	}
}

func TestEcho(t *testing.T) {
	var out strings.Builder
	if _, err := readPlans(strings.NewReader(stream), &out); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "Terraform 1.11.4\n  \"standby\"... pass\nSuccess! 4 passed, 0 failed.\n"; got != want {
		t.Errorf("echo = %q, want %q (the messages, not the plans)", got, want)
	}
}
