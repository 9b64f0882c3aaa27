// Package batch uploads many files with a [wrapper.Client], a few at a
// time, and remembers what it did: it sits on the client as a program
// would, through the wrapper's public API alone.
//
// [Plan] lists the files of paths and directories (include and exclude
// patterns on the base name, a deterministic K/N shard by path, a journal
// directory, hidden and system files and empty files left out); [Walk]
// does the same and goes on past unreadable directories and broken links,
// saying in its [PlanResult] what it left out and why; [Upload] sends them [Options.Jobs] at a time, each
// as [wrapper.Client.Upload] would, sharing the client's connections, with
// the upload token given or tokens it mints with the client's API key. One
// file failing never stops the others: each file's outcome is a
// [FileResult], the whole a [Result].
//
// A [Journal], a directory opened with [OpenJournal], records each
// completed file and keeps the resume state of each file under way, so a
// batch run again with the same journal skips what is done (when the
// content is unchanged, see [SkipCheck]), resumes what is partial and
// retries what failed. One process at a time may use a journal.
//
//	files, err := batch.Plan([]string{"/mnt/videos"}, batch.PlanOptions{Include: []string{"*.mp4"}})
//	if err != nil {
//		return err
//	}
//	j, err := batch.OpenJournal("/var/lib/avupload/journal")
//	if err != nil {
//		return err
//	}
//	defer j.Close()
//	res, err := batch.Upload(ctx, client, files, &batch.Options{Jobs: 4, Journal: j, Token: token})
//	if err != nil {
//		return err
//	}
//	fmt.Println(res.Uploaded, "uploaded,", res.Skipped, "skipped,", res.Failed, "failed")
//
// Errors are the wrapper's: bad options match [wrapper.ErrInvalidInput], a
// journal another process holds is a *[wrapper.LockedError]; this package
// adds only what concerns the journal ([ErrJournalNotSaved],
// [ErrJournalVersion], [JournalLineError]).
package batch
