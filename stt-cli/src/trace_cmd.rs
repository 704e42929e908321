//! `stt trace summary|plot|qlog FILE`: reads a trace written with `--trace` (or by the
//! simulator or an adapter's `trace_dir`) through the `stt-trace` library. Only file
//! handling and messages live here.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::error::CliError;

/// What to do with a trace.
#[derive(clap::Subcommand, Debug)]
pub enum TraceCommand {
    /// Print one line per session: goodput, losses, retransmissions, probe timeouts,
    /// RTT, and the share of time held back by congestion, pacing, flow control or the
    /// application.
    Summary {
        /// The trace file.
        file: PathBuf,
    },
    /// Draw a session as SVG: stream offsets sent/resent/acked, congestion window and
    /// bytes in flight, and RTT on one time axis, with losses, probe timeouts and path
    /// changes marked.
    Plot {
        /// The trace file.
        file: PathBuf,
        /// The SVG to write.
        #[arg(long, short)]
        out: PathBuf,
        /// The session to draw (as `stt trace summary` names it); default: the one
        /// that moved the most data.
        #[arg(long)]
        session: Option<String>,
    },
    /// Convert to qlog (JSON-SEQ, as qvis reads it).
    Qlog {
        /// The trace file.
        file: PathBuf,
        /// The qlog file to write (`.sqlog`).
        #[arg(long, short)]
        out: PathBuf,
    },
}

fn open(file: &Path) -> Result<BufReader<File>, CliError> {
    File::open(file)
        .map(BufReader::new)
        .map_err(|e| CliError::Other(format!("cannot read {}: {e}", file.display())))
}

fn read(file: &Path) -> Result<stt_trace::Trace, CliError> {
    stt_trace::Trace::read(open(file)?)
        .map_err(|e| CliError::Other(format!("{}: {e}", file.display())))
}

/// Runs one `stt trace` command.
pub fn run(cmd: TraceCommand) -> Result<(), CliError> {
    match cmd {
        TraceCommand::Summary { file } => {
            let trace = read(&file)?;
            let rows = stt_trace::summary::summaries(&trace);
            if rows.is_empty() {
                return Err(CliError::Other(format!(
                    "{}: {}",
                    file.display(),
                    stt_trace::TraceError::Empty
                )));
            }
            print!("{}", stt_trace::summary::table(&rows));
            Ok(())
        }
        TraceCommand::Plot { file, out, session } => {
            let trace = read(&file)?;
            stt_trace::plot::plot(&trace, session.as_deref(), &out)
                .map_err(|e| CliError::Other(format!("{}: {e}", out.display())))?;
            eprintln!("plot written to {}", out.display());
            Ok(())
        }
        TraceCommand::Qlog { file, out } => {
            let partial = out.with_extension("sqlog.partial");
            let title = file.display().to_string();
            let write = || -> Result<u64, String> {
                let sink = File::create(&partial).map_err(|e| e.to_string())?;
                let mut sink = std::io::BufWriter::new(sink);
                let n = stt_trace::qlog::convert(
                    open(&file).map_err(|e| e.to_string())?,
                    &mut sink,
                    &title,
                )
                .map_err(|e| e.to_string())?;
                std::io::Write::flush(&mut sink).map_err(|e| e.to_string())?;
                std::fs::rename(&partial, &out).map_err(|e| e.to_string())?;
                Ok(n)
            };
            match write() {
                Ok(n) => {
                    eprintln!("{n} qlog events written to {}", out.display());
                    Ok(())
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&partial);
                    Err(CliError::Other(format!("{}: {e}", out.display())))
                }
            }
        }
    }
}
