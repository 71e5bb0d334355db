//! The command line (nginx: ngx_get_options).

/// What `-s` asks for (nginx: the `signals[]` names ngx_get_options accepts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Stop,
    Quit,
    Reopen,
    Reload,
}

impl Signal {
    fn from_name(name: &[u8]) -> Option<Signal> {
        match name {
            b"stop" => Some(Signal::Stop),
            b"quit" => Some(Signal::Quit),
            b"reopen" => Some(Signal::Reopen),
            b"reload" => Some(Signal::Reload),
            _ => None,
        }
    }

    /// The signal number sent to the master (nginx: NGX_TERMINATE_SIGNAL etc.).
    pub fn signo(self) -> libc::c_int {
        match self {
            Signal::Stop => libc::SIGTERM,
            Signal::Quit => libc::SIGQUIT,
            Signal::Reopen => libc::SIGUSR1,
            Signal::Reload => libc::SIGHUP,
        }
    }
}

/// The parsed command line (nginx: the `ngx_show_*`, `ngx_test_config`, ... statics).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub show_help: bool,
    pub show_version: bool,
    pub show_configure: bool,
    pub test_config: bool,
    pub dump_config: bool,
    pub quiet: bool,
    /// `-p`, as given.
    pub prefix: Option<Vec<u8>>,
    /// `-e`, as given; `-e stderr` is stored as the empty string, as nginx does.
    pub error_log: Option<Vec<u8>>,
    /// `-c`, as given.
    pub conf_file: Option<Vec<u8>>,
    /// `-g`.
    pub conf_params: Option<Vec<u8>>,
    pub signal: Option<Signal>,
}

/// Parses `args` (`args[0]` is the program name). On error, returns the message nginx prints
/// after `nginx: `; nginx then exits with status 1.
///
/// nginx: ngx_get_options
pub fn get_options(args: &[Vec<u8>]) -> Result<Options, Vec<u8>> {
    let mut o = Options::default();
    let mut i = 1;
    while i < args.len() {
        let arg = &args[i];
        if arg.first() != Some(&b'-') {
            return Err(quoted(b"invalid option: \"", arg, b"\""));
        }
        let mut p = 1;
        while p < arg.len() {
            let c = arg[p];
            p += 1;
            // The value of an option taking one: the rest of this argument, or the next one.
            let mut value = |what: &str| -> Result<Vec<u8>, Vec<u8>> {
                if p < arg.len() {
                    Ok(arg[p..].to_vec())
                } else if i + 1 < args.len() {
                    i += 1;
                    Ok(args[i].clone())
                } else {
                    Err(format!("option \"-{}\" requires {what}", c as char).into_bytes())
                }
            };
            match c {
                b'?' | b'h' => {
                    o.show_version = true;
                    o.show_help = true;
                }
                b'v' => o.show_version = true,
                b'V' => {
                    o.show_version = true;
                    o.show_configure = true;
                }
                b't' => o.test_config = true,
                b'T' => {
                    o.test_config = true;
                    o.dump_config = true;
                }
                b'q' => o.quiet = true,
                b'p' => {
                    o.prefix = Some(value("directory name")?);
                    break;
                }
                b'e' => {
                    let v = value("file name")?;
                    o.error_log = Some(if v == b"stderr" { Vec::new() } else { v });
                    break;
                }
                b'c' => {
                    o.conf_file = Some(value("file name")?);
                    break;
                }
                b'g' => {
                    o.conf_params = Some(value("parameter")?);
                    break;
                }
                b's' => {
                    let v = value("parameter")?;
                    match Signal::from_name(&v) {
                        Some(s) => o.signal = Some(s),
                        None => return Err(quoted(b"invalid option: \"-s ", &v, b"\"")),
                    }
                    break;
                }
                other => return Err(quoted(b"invalid option: \"", &[other], b"\"")),
            }
        }
        i += 1;
    }
    Ok(o)
}

fn quoted(head: &[u8], middle: &[u8], tail: &[u8]) -> Vec<u8> {
    [head, middle, tail].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        let mut v: Vec<Vec<u8>> = vec![b"nginx".to_vec()];
        v.extend(args.iter().map(|a| a.as_bytes().to_vec()));
        get_options(&v).map_err(|e| String::from_utf8_lossy(&e).into_owned())
    }

    #[test]
    fn combined_and_glued() {
        let o = parse(&["-tq", "-cfoo.conf", "-p", "/x", "-sreload", "-gdaemon off;"]).unwrap();
        assert!(o.test_config && o.quiet && !o.dump_config);
        assert_eq!(o.conf_file.as_deref(), Some(&b"foo.conf"[..]));
        assert_eq!(o.prefix.as_deref(), Some(&b"/x"[..]));
        assert_eq!(o.signal, Some(Signal::Reload));
        assert_eq!(o.conf_params.as_deref(), Some(&b"daemon off;"[..]));
        // The value ends the argument: `-cq` is the file "q".
        let o = parse(&["-tcq"]).unwrap();
        assert_eq!(o.conf_file.as_deref(), Some(&b"q"[..]));
        assert!(!o.quiet);
    }

    #[test]
    fn errors() {
        assert_eq!(parse(&["-x"]).unwrap_err(), "invalid option: \"x\"");
        assert_eq!(parse(&["-tx"]).unwrap_err(), "invalid option: \"x\"");
        assert_eq!(parse(&["foo"]).unwrap_err(), "invalid option: \"foo\"");
        assert_eq!(parse(&[""]).unwrap_err(), "invalid option: \"\"");
        assert_eq!(
            parse(&["-c"]).unwrap_err(),
            "option \"-c\" requires file name"
        );
        assert_eq!(
            parse(&["-e"]).unwrap_err(),
            "option \"-e\" requires file name"
        );
        assert_eq!(
            parse(&["-p"]).unwrap_err(),
            "option \"-p\" requires directory name"
        );
        assert_eq!(
            parse(&["-g"]).unwrap_err(),
            "option \"-g\" requires parameter"
        );
        assert_eq!(
            parse(&["-s"]).unwrap_err(),
            "option \"-s\" requires parameter"
        );
        assert_eq!(
            parse(&["-s", "foo"]).unwrap_err(),
            "invalid option: \"-s foo\""
        );
        assert_eq!(parse(&["-sfoo"]).unwrap_err(), "invalid option: \"-s foo\"");
    }

    #[test]
    fn odd_but_accepted() {
        assert_eq!(parse(&["-"]).unwrap(), Options::default());
        let o = parse(&["-e", "stderr"]).unwrap();
        assert_eq!(o.error_log.as_deref(), Some(&b""[..]));
        let o = parse(&["-h"]).unwrap();
        assert!(o.show_help && o.show_version);
        let o = parse(&["-V"]).unwrap();
        assert!(o.show_configure && o.show_version);
    }
}
