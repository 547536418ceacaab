# Builds the switchboard AMI: Amazon Linux 2023 with the binary, the RDS CA
# bundle, rsyslog and the CloudWatch agent, and the hardened systemd unit.
# `make ami` runs `packer build` on this file; ami/README.md lists the
# variables.

packer {
  required_version = ">= 1.10.0"
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.3.0"
    }
  }
}

variable "region" {
  type        = string
  description = "Region A: where the AMI is built and where the service runs."
}

variable "copy_regions" {
  type        = list(string)
  default     = []
  description = "Regions the finished AMI is copied to (region B for disaster recovery)."
}

variable "copy_kms_key_ids" {
  type        = map(string)
  default     = {}
  description = "KMS key per copy region for the copied snapshots; empty uses aws/ebs there."
}

variable "kms_key_id" {
  type        = string
  default     = ""
  description = "KMS key for the root volume and AMI snapshot in region A; empty uses aws/ebs."
}

variable "app_version" {
  type        = string
  description = "Version of the binary, part of the AMI name and tags (e.g. git describe)."
}

variable "binary" {
  type        = string
  default     = "bin/switchboard"
  description = "Path of the linux binary built by `make build`."
}

variable "arch" {
  type        = string
  default     = "x86_64"
  description = "x86_64 for a linux/amd64 binary, arm64 for linux/arm64."
}

variable "instance_type" {
  type        = string
  default     = "t3.small"
  description = "Build instance type; must match arch (t4g.small for arm64)."
}

variable "subnet_id" {
  type        = string
  default     = ""
  description = "Subnet for the build instance; empty uses the default VPC."
}

variable "rds_ca_bundle_url" {
  type        = string
  default     = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
  description = "Where the RDS CA bundle is downloaded from during the build."
}

locals {
  timestamp = formatdate("YYYYMMDDhhmmss", timestamp())
}

source "amazon-ebs" "switchboard" {
  region        = var.region
  instance_type = var.instance_type
  subnet_id     = var.subnet_id
  ssh_username  = "ec2-user"
  ami_name      = "switchboard-${var.app_version}-${var.arch}-${local.timestamp}"

  source_ami_filter {
    filters = {
      name                = "al2023-ami-2023.*-kernel-*-${var.arch}"
      architecture        = var.arch
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = ["amazon"]
    most_recent = true
  }

  # The build instance and every instance launched from the AMI answer
  # metadata only to session-token (IMDSv2) requests.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }
  imds_support = "v2.0"

  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = 8
    volume_type           = "gp3"
    encrypted             = true
    kms_key_id            = var.kms_key_id
    delete_on_termination = true
  }
  encrypt_boot = true
  kms_key_id   = var.kms_key_id

  ami_regions        = var.copy_regions
  region_kms_key_ids = var.copy_kms_key_ids

  tags = {
    Name        = "switchboard-${var.app_version}"
    Application = "switchboard"
    Version     = var.app_version
    BaseAMI     = "{{ .SourceAMI }}"
  }
  run_tags = {
    Name = "switchboard-ami-build"
  }
}

build {
  sources = ["source.amazon-ebs.switchboard"]

  provisioner "file" {
    source      = var.binary
    destination = "/tmp/switchboard"
  }

  # A directory upload needs its destination to exist on the builder
  # (otherwise the result depends on the transfer method: with scp every
  # file lands on the one path), so it is made first; the trailing slashes
  # upload files/'s contents into it.
  provisioner "shell" {
    inline = ["mkdir -p /tmp/switchboard-files"]
  }

  provisioner "file" {
    source      = "${path.root}/files/"
    destination = "/tmp/switchboard-files/"
  }

  provisioner "shell" {
    script          = "${path.root}/scripts/install.sh"
    execute_command = "chmod +x {{ .Path }}; sudo env {{ .Vars }} {{ .Path }}"
    environment_vars = [
      "RDS_CA_BUNDLE_URL=${var.rds_ca_bundle_url}",
      "FILES=/tmp/switchboard-files",
      "BINARY=/tmp/switchboard",
    ]
  }
}
