package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The variables a batch platform sets in each of its parallel workers,
// which --shard auto/N and --shard auto read.
const (
	// envK8sIndex is the completion index of a pod of a Kubernetes Indexed
	// Job, from 0. Kubernetes sets no variable with the Job's completions.
	envK8sIndex = "JOB_COMPLETION_INDEX"
	// envAWSIndex is the index of a child of an AWS Batch array job, from 0.
	envAWSIndex = "AWS_BATCH_JOB_ARRAY_INDEX"
	// envAWSSize is the size of the AWS Batch array job.
	envAWSSize = "AWS_BATCH_JOB_ARRAY_SIZE"
)

// shardAuto is the K (or K/N) of --shard that the platform gives.
const shardAuto = "auto"

// shardUsage is what --shard takes, for its errors.
const shardUsage = "want K/N with 1 <= K <= N (e.g. 2/8), auto/N (K from " + envK8sIndex + " or " + envAWSIndex +
	"), or auto (K and N from an AWS Batch array job)"

// resolveShard reads --shard: K/N as given; auto/N with K from the
// platform's index (0-based, so K is the index + 1); auto with N as well,
// where the platform gives it. from says where K and N came from, e.g.
// "JOB_COMPLETION_INDEX=2", empty for K/N. Its errors are the user's to
// fix: they name the flag and the variables.
func resolveShard(flag string, getenv func(string) string) (k, n int, from string, err error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if flag != shardAuto && !strings.HasPrefix(flag, shardAuto+"/") {
		if k, n, ok := parseShard(flag); ok {
			return k, n, "", nil
		}
		return 0, 0, "", usagef("--shard %q: %s", flag, shardUsage)
	}
	if flag != shardAuto {
		var ok bool
		if n, ok = shardCount(strings.TrimPrefix(flag, shardAuto+"/")); !ok {
			return 0, 0, "", usagef("--shard %q: %s", flag, shardUsage)
		}
	}
	// flag is now "auto" or "auto/N", N in digits: safe to print.
	index, indexVar, err := platformIndex(flag, getenv)
	if err != nil {
		return 0, 0, "", err
	}
	from = fmt.Sprintf("%s=%d", indexVar, index)
	size, haveSize, err := envCount(flag, envAWSSize, getenv)
	switch {
	case err != nil:
		return 0, 0, "", err
	case flag == shardAuto && !haveSize:
		return 0, 0, "", usagef("--shard auto: %s gives this worker's index, but nothing gives the number of shards (Kubernetes sets no variable with a Job's completions): "+
			"give it as --shard auto/N, N the Job's completions, e.g. --shard auto/8", indexVar)
	case flag == shardAuto:
		n = size
		from += fmt.Sprintf(" and %s=%d", envAWSSize, size)
	case haveSize && size != n:
		return 0, 0, "", usagef("--shard %s, but %s=%d: the array job has %d children, and shares of %d would miss files or upload some twice; give --shard auto or --shard auto/%d",
			flag, envAWSSize, size, size, n, size)
	}
	if index >= n {
		return 0, 0, "", usagef("--shard %s: %s is out of range: with %d shards, indexes run from 0 to %d (shard K is index + 1)",
			flag, from, n, n-1)
	}
	return index + 1, n, from, nil
}

// platformIndex is the worker's index, from 0, and the name of the
// variable of Kubernetes or AWS Batch that holds it.
func platformIndex(flag string, getenv func(string) string) (index int, name string, err error) {
	k8s, haveK8s, err := envCount(flag, envK8sIndex, getenv)
	if err != nil {
		return 0, "", err
	}
	aws, haveAWS, err := envCount(flag, envAWSIndex, getenv)
	if err != nil {
		return 0, "", err
	}
	switch {
	case haveK8s && haveAWS && k8s != aws:
		return 0, "", usagef("--shard %s: %s=%d and %s=%d disagree on this worker's index; unset the one the platform did not set, or give --shard K/N",
			flag, envK8sIndex, k8s, envAWSIndex, aws)
	case haveK8s:
		return k8s, envK8sIndex, nil
	case haveAWS:
		return aws, envAWSIndex, nil
	}
	return 0, "", usagef("--shard %s takes this worker's index from %s (a Kubernetes Indexed Job) or %s (an AWS Batch array job), and neither is set: "+
		"run it in such a job, or give --shard K/N", flag, envK8sIndex, envAWSIndex)
}

// envCount reads the whole number, from 0 (from 1 for the array size), in
// the variable name; have is false when it is unset or empty.
func envCount(flag, name string, getenv func(string) string) (v int, have bool, err error) {
	raw := strings.TrimSpace(getenv(name))
	if raw == "" {
		return 0, false, nil
	}
	least := 0
	if name == envAWSSize {
		least = 1
	}
	v, err = strconv.Atoi(raw)
	if err != nil || v < least || strconv.Itoa(v) != raw {
		return 0, false, usagef("--shard %s: %s=%s is not a whole number from %d", flag, name, strconv.Quote(raw), least)
	}
	return v, true, nil
}

// shardCount reads the N of --shard auto/N: digits alone, at least 1.
func shardCount(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 1 && strconv.Itoa(n) == s
}

// resolveShard turns b.shard into the K/N it stands for and, for auto,
// says on w which share it took and why, unless quiet.
func (b *batchFlags) resolveShard(w io.Writer, quiet bool) error {
	k, n, from, err := resolveShard(b.shard, b.getenv)
	if err != nil {
		return err
	}
	if from != "" && !quiet {
		printf(w, "avupload: --shard %s is shard %d/%d: %s (indexes count from 0)\n", b.shard, k, n, from)
	}
	b.shard = fmt.Sprintf("%d/%d", k, n)
	return nil
}
