//! MQTT username and password: the password is read from a file (`password_file`) or an
//! environment variable (`password_env`) when the driver starts, never from the configuration
//! itself, and is never logged or printed (errors name the file or variable, not the value).

use std::path::Path;

use super::Error;

/// The password from `file` (its content without one trailing line break) or from the
/// environment variable `env`; `None` when neither is configured. Both at once is an error.
pub fn read_password(file: Option<&Path>, env: Option<&str>) -> Result<Option<String>, Error> {
    match (file, env) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(invalid("password_file/password_env", "set only one of them".into())),
        (Some(path), None) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| invalid("password_file", format!("{}: cannot read it: {e}", path.display())))?;
            let password = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text);
            Ok(Some(password.to_owned()))
        }
        (None, Some(var)) => match std::env::var(var) {
            Ok(password) => Ok(Some(password)),
            Err(std::env::VarError::NotPresent) => {
                Err(invalid("password_env", format!("the environment variable {var} is not set")))
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(invalid("password_env", format!("the environment variable {var} is not valid UTF-8")))
            }
        },
    }
}

fn invalid(field: &'static str, message: String) -> Error {
    Error::InvalidConfig { field, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_file_loses_one_trailing_line_break_only() {
        let dir = tempfile::tempdir().unwrap();
        for (content, expected) in [("pw\n", "pw"), ("pw\r\n", "pw"), ("pw", "pw"), (" pw \n\n", " pw \n")] {
            let file = dir.path().join("pw");
            std::fs::write(&file, content).unwrap();
            assert_eq!(read_password(Some(&file), None).unwrap().as_deref(), Some(expected), "{content:?}");
        }
        assert_eq!(read_password(None, None).unwrap(), None);
    }

    #[test]
    fn errors_name_the_source_never_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "hunter2").unwrap();
        let both = read_password(Some(&file), Some("X")).unwrap_err().to_string();
        assert!(both.contains("set only one") && !both.contains("hunter2"), "{both}");
        let missing = read_password(Some(&dir.path().join("nope")), None).unwrap_err().to_string();
        assert!(missing.contains("password_file") && missing.contains("nope"), "{missing}");
        let unset = read_password(None, Some("WARDSTREAM_TEST_SURELY_UNSET_PW")).unwrap_err().to_string();
        assert!(unset.contains("WARDSTREAM_TEST_SURELY_UNSET_PW is not set"), "{unset}");
        // PATH is set in every test environment; reading it proves the variable is used as is.
        assert_eq!(read_password(None, Some("PATH")).unwrap(), std::env::var("PATH").ok());
    }
}
