#!/bin/sh
# LocalStack ready hook (mounted into /etc/localstack/init/ready.d/ by docker-compose.yml):
# creates Coffer's bucket once S3 is up. Coffer also creates a missing bucket itself;
# this just makes the bucket exist before the api and worker start.
set -eu
bucket="${COFFER_BUCKET:-coffer}"
awslocal s3api head-bucket --bucket "$bucket" 2>/dev/null || awslocal s3 mb "s3://$bucket"
