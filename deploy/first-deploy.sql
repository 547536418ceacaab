-- The service's database user, created once after the first apply
-- (deploy/terraform/README.md, "First deployment", step 3). Run it as the
-- RDS master user (not a superuser), connected to the database switchboard:
--   psql "host=127.0.0.1 port=5432 dbname=switchboard user=switchboard_admin sslmode=require" -f deploy/first-deploy.sql
-- deploy/first_deploy_test.go runs it against PostgreSQL as such a user.

-- Logs in with RDS IAM tokens only: no password.
CREATE USER switchboard;
GRANT rds_iam TO switchboard;

-- Changing a database's owner needs the right to SET ROLE to the new owner
-- (PostgreSQL 16 and later; membership before), which the master user, not
-- being a superuser, must first be given.
GRANT switchboard TO CURRENT_USER;

-- The owner of the database owns its public schema (pg_database_owner), so
-- the service can apply its migrations.
ALTER DATABASE switchboard OWNER TO switchboard;
